"""Platform-neutral conversation engine: events in, intents out."""
