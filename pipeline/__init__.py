"""canvascap's core runtime: messages, channels, the stage contract, config and runner.

Importing it pulls in no model, audio-device or web library; stages import those
themselves, only when a config uses them.
"""

from canvascap.pipeline.channel import Channel, Closed, Policy, Receiver, Sender
from canvascap.pipeline.config import PipelineConfig, load_config
from canvascap.pipeline.errors import StageFailed, UserError
from canvascap.pipeline.runner import Pipeline
from canvascap.pipeline.stage import Context, Stage
from canvascap.pipeline.types import AudioFrame, Caption, Role, Utterance, Word

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
    "Role",
    "Sender",
    "Stage",
    "StageFailed",
    "Utterance",
    "UserError",
    "Word",
    "load_config",
]
