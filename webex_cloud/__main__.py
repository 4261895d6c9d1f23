import sys

from webex_cloud.cli import main
from webex_cloud.cli_common import entry

sys.exit(entry(main, sys.argv[1:]))
