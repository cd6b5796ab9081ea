"""Qt-free core of the console: the agent's REST client, profiles and the connection state.

Nothing here imports Qt, so it is testable with plain asyncio and reusable by scripts.
"""
