"""What the stages and the web server share about captions and their audio.

Subtitle cues and file formats, masking words in what people see, PCM audio helpers,
audio sent in over the network, and the names given to speaker labels. It sits between
the core runtime (``canvascap.pipeline``) and the layers that use it.
"""
