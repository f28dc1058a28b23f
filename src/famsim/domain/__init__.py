"""The domain: value types and business rules, free of frameworks, storage and HTTP."""
