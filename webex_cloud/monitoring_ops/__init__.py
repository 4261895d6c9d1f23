"""Operating the generated monitoring: the tools' checks, the reload node by node, the live facts, the
alert diff."""
