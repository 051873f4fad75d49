"""refopt and the frameworks, both directions, one file per framework.

``refopt.interop.torch.Optimizer(params_or_groups, rule)``: a refopt rule (canonical or flavor) as
a real ``torch.optim.Optimizer``; ``refopt.interop.optax.transformation(rule)``: as an optax
``GradientTransformation``, jit-compatible. The framework is imported by the file that needs it,
never here.
"""
