import sys

from hub.cli.main import main

sys.exit(main(sys.argv[1:]))
