"""The PostgreSQL dialect: its engine, its hot paths on raw psycopg (with their NOTIFY), the
event-loop connection, its LISTEN watchers. psycopg is imported by the modules that use it."""
