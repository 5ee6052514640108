import sys

from rtk_pipeline.cli import main

sys.exit(main())
