"""Translation and cleanup of captions by a language model, packed into shared canvases."""
