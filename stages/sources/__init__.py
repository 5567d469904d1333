"""Where audio comes from: a file played live, a microphone or system audio, a browser."""
