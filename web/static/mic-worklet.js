"use strict";
// Audio thread of the /mic page: the microphone, at the device's rate, in; 16 kHz mono
// 16-bit blocks out. Each output sample is the mean of the input samples it stands for
// (a box filter, so speech does not alias), and the block's loudness is sent with it.

const RATE = 16000;

class Pcm16k extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.block = options.processorOptions.block;
    this.ratio = sampleRate / RATE; // sampleRate: the context's, a global of this scope
    this.rest = new Float32Array(0);
    this.position = 0;
    this.out = new Int16Array(this.block);
    this.filled = 0;
    this.square = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    const joined = new Float32Array(this.rest.length + channel.length);
    joined.set(this.rest);
    joined.set(channel, this.rest.length);
    let position = this.position;
    while (position + this.ratio <= joined.length) {
      const from = Math.floor(position);
      const to = Math.max(from + 1, Math.floor(position + this.ratio));
      let sum = 0;
      for (let i = from; i < to; i++) sum += joined[i];
      const value = Math.max(-1, Math.min(1, sum / (to - from)));
      this.out[this.filled++] = value < 0 ? value * 0x8000 : value * 0x7fff;
      this.square += value * value;
      if (this.filled === this.block) {
        const level = Math.sqrt(this.square / this.block);
        this.port.postMessage({ pcm: this.out, level }, [this.out.buffer]);
        this.out = new Int16Array(this.block);
        this.filled = 0;
        this.square = 0;
      }
      position += this.ratio;
    }
    const used = Math.floor(position);
    this.rest = joined.slice(used);
    this.position = position - used;
    return true;
  }
}

registerProcessor("pcm16k", Pcm16k);
