"""Domain logic as plain functions (no fastapi, no ray imports). Keyword-only arguments."""
