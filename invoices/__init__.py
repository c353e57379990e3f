"""Invoice documents and maths, free of Flask: summary arithmetic, Factur-X XML and PDF rendering.

The portal's billing feature calls into this package with plain data; nothing here imports Flask or the
portal's models, so it can be tested and reused (for example by a batch renderer) on its own.
"""
