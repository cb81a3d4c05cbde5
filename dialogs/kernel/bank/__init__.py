"""Built-in interview question bank (data in questions.yaml)."""
