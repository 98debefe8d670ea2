"""The models of the thesis, built on ``nnscratch``: the caption generator
(§3.7, ``captioner``), the image–sentence ranking model (eq. 3.3–3.6,
``ranker``), decoding (greedy and beam search, ``decoding``), the small CNN
trained with the captioner (``small_cnn``), and the device they run on
(``device``)."""
