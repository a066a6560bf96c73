"""Running campaigns: the engine, parallel workers, the example database, replay and run records."""
