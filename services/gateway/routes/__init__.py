"""HTTP routes of the gateway: thin handlers over the chat pipeline, models and health."""
