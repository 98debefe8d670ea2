"""Image description built on nnscratch: datasets, CNN features, the ranking
model and the caption generator of the thesis, their metrics and commands."""
