"""Model loading: the embedded SmolLM2 model and the `local` Inspect provider."""
