"""Plants for neurocontrol: Gymnasium environments that are also python-control systems.

Importing this package registers the environments with Gymnasium, so that
``gymnasium.make("neurocontrol/Helicopter-v0")`` works after ``import plants``.
"""
