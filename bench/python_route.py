"""The only existing route from a .keras file to OpenVINO IR, timed end to end (wall clock):
load the model in Keras (JAX backend), trace `stateless_call` with `jax.make_jaxpr`, convert the
jaxpr with `openvino.convert_model`, and `openvino.save_model`. Compare with `keras2ov convert`.

Run: python bench/python_route.py MODEL.keras OUT.xml   (needs keras, jax, openvino)
"""

import os
import sys
import time

t0 = time.perf_counter()
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import openvino as ov  # noqa: E402

model_path, out = sys.argv[1], sys.argv[2]
t_import = time.perf_counter()
model = keras.saving.load_model(model_path)
tv = [v.value for v in model.trainable_variables]
ntv = [v.value for v in model.non_trainable_variables]
examples = [np.zeros((1,) + tuple(i.shape[1:]), np.float32) for i in model.inputs]


def f(*xs):
    return model.stateless_call(tv, ntv, list(xs), training=False)[0]


jaxpr = jax.make_jaxpr(f)(*examples)
ov_model = ov.convert_model(jaxpr)
ov.save_model(ov_model, out, compress_to_fp16=False)
t_end = time.perf_counter()
print(f"python route: {t_end - t0:.2f} s wall ({t_import - t0:.2f} s of imports)")
