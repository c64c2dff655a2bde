"""OneWindow common library: settings, database, events, outbox/inbox, Kafka bus, auth, observability."""
