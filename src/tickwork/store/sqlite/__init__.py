"""The SQLite dialect: its engine, its hot paths on the raw sqlite3 driver, its commit watcher."""
