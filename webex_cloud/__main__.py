import sys

from webex_cloud.cli import main

sys.exit(main(sys.argv[1:]))
