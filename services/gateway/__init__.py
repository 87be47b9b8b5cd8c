"""The gateway: a stateless translator from OpenAI/Anthropic requests to Kiro and back, streaming."""
