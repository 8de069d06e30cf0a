import Torch

extension TokenizerError: ProximaError {}
