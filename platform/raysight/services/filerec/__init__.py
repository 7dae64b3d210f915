"""File recognition (the filerec dialect's capability): recognition tasks over uploaded packages,
the recognizer and training parameters, liveness of the workers, and model / dataset management."""
