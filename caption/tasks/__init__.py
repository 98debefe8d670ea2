"""The two things ``python -m caption.train`` can learn: the caption generator
(``captioning``) and the image–sentence ranking model (``ranking``). Each is a
*task* as ``caption.trainer`` defines it."""
