"""canvascap's core runtime: messages, channels, the stage contract, config and runner.

Importing it pulls in no model, audio-device or web library; stages import those
themselves, only when a config uses them.
"""

from pipeline.channel import Channel, Closed, Policy, Receiver, Sender
from pipeline.config import PipelineConfig, load_config
from pipeline.errors import StageFailed, UserError
from pipeline.runner import Pipeline
from pipeline.stage import Context, Stage
from pipeline.types import AudioFrame, Caption, Utterance, Word

__all__ = [
    "AudioFrame",
    "Caption",
    "Channel",
    "Closed",
    "Context",
    "Pipeline",
    "PipelineConfig",
    "Policy",
    "Receiver",
    "Sender",
    "Stage",
    "StageFailed",
    "Utterance",
    "UserError",
    "Word",
    "load_config",
]
