from sensorhub.cli import main

raise SystemExit(main())
