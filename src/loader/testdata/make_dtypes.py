"""Regenerate dtypes.keras, the loader's test archive for weight dtypes and variable order.

Run from the repository root with the project venv (Keras 3.15.1, JAX backend):

    KERAS_BACKEND=jax .venv/bin/python src/loader/testdata/make_dtypes.py

The archive holds a Sequential model x(2) -> Dense "bf" (bfloat16 weights, stored by h5py
as 2-byte opaque values with attribute dtype="bfloat16") -> Dense "half" (float16) ->
ManyVars "many" (a registered custom layer with 12 scalar variables 0.0, 1.0, ..., 11.0, so
vars/10 and vars/11 exist) -> Dense "wide" (float64 policy; JAX stores it as float32).
Weights are set to exact values so tests can compare them bit for bit. The printed values
are pasted into the Rust tests.
"""
import os

os.environ["KERAS_BACKEND"] = "jax"
import io
import zipfile

import h5py
import keras
import numpy as np
from keras import layers


@keras.saving.register_keras_serializable(package="loader_test")
class ManyVars(layers.Layer):
    def build(self, input_shape):
        self.vs = [self.add_weight(shape=(), initializer="zeros", name=f"v{i}")
                   for i in range(12)]

    def call(self, x):
        return x * self.vs[0]


keras.utils.set_random_seed(1)
m = keras.Sequential([
    keras.Input((2,), name="x"),
    layers.Dense(2, name="bf", dtype="bfloat16"),
    layers.Dense(2, name="half", dtype="float16"),
    ManyVars(name="many"),
    layers.Dense(1, name="wide", dtype="float64"),
], name="dtypes")
m.get_layer("bf").set_weights([np.array([[0.5, -1.25], [3.0, 0.15625]]), np.array([1.0, -2.0])])
m.get_layer("half").set_weights([np.array([[0.099975586, -2.5], [1024.0, 0.33325195]]),
                                 np.array([0.0009765625, -0.5])])
for i, v in enumerate(m.get_layer("many").vs):
    v.assign(float(i))
m.get_layer("wide").set_weights([np.array([[0.1], [-0.2]]), np.array([0.3])])

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dtypes.keras")
m.save(out)
z = zipfile.ZipFile(out)
f = h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
f.visititems(lambda n, o: print(n, getattr(o, "shape", ""), getattr(o, "dtype", ""),
                                dict(o.attrs)))
print("wide kernel as stored:", f["layers/dense_2/vars/0"][()].ravel().tolist())
