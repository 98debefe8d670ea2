"""Caption datasets (thesis §1.2 and §3.3): Flickr8k, Flickr30k and MSCOCO in
Karpathy's split JSON, and the synthetic "shapes" set written in the same format.

One idea per module, imported by name (nothing is imported here, so that
``import caption.data.vocab`` stays cheap):

- ``karpathy``  read a split JSON and an image folder into a ``Dataset``
- ``flickr8k``  the Flickr8k text release -> a split JSON (``python -m caption.data.flickr8k``)
- ``flickr8k_judgments``  the release's human judgments of captions (Expert, CrowdFlower)
- ``features``  precomputed CNN features (HDF5, or neuraltalk's vgg_feats.mat) aligned by imgid
- ``tokenize``  raw text -> lower-cased word tokens (NLTK's Treebank rules)
- ``vocab``     ``Vocabulary``: words seen at least min_count times plus <pad> <start> <end> <unk>
- ``batching``  shuffled mini-batches of (image indices, padded token ids, mask)
- ``shapes``    the built-in synthetic dataset, its cache, and ``attribute_scores``
"""
