"""Who said a caption: voice prints, online clustering, turns inside an utterance."""
