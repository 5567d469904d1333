"""Speech to captions: voice activity, the recogniser, and the policies around it
(which words are settled, what is speech, which language)."""
