"""`edge-fer bench`: latency, accuracy and end-to-end speed of models on this device.

- `models`: which files a run measures (bundled names, paths, NAME=PATH, siblings);
- `runners`: one loaded model in one format, as a timed call and a probability function;
- `engine`: the run itself (interleaved latency rounds, accuracy, video pipeline);
- `system`: the system block (CPU, instruction sets, versions, thread settings);
- `report`: Markdown, CSV and JSON outputs;
- `merge`: contributed `benchmarks/results/<device>.json` files as one table;
- `progress`: the progress bar on stderr.

Runtime-only: numpy, OpenCV, onnxruntime and the standard library. The `.keras` rows
(`edge_train/bench_keras.py`, TensorFlow) and pareto.png/latency.png (`edge_train/bench_plots.py`,
matplotlib) live in edge_train/ and are loaded only when installed and asked for.
"""
