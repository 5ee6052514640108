"""`python -m rtk_pipeline.emulator --help`."""

from rtk_pipeline.emulator.cli import main

raise SystemExit(main())
