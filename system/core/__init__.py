"""The queue core: key map, Lua scripts (one per state transition) and the operations on them."""
