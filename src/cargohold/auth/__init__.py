"""Client identities: users, tokens, permissions."""
