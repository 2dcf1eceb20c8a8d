"""Download-and-prepare scripts for the real datasets used in the Inpainting Book.

Taught in the intro chapter ("What is inpainting?", section on data): the chapters run on the
embedded sample bank by default; these scripts turn the official archives of CelebA, CelebA-HQ,
Places2, the NVIDIA irregular masks and CUFS/CUFSF into the folder layouts that
``inpaintlib.data`` reads.

They use only the Python standard library (Pillow is optional, needed only to resize CelebA-HQ),
so data can be prepared before torch is installed. Each script runs as
``python data_scripts/<name>.py`` or ``python -m data_scripts.<name>``; ``prepare.py`` dispatches
by dataset name and ``prepare.py --list`` prints every dataset and its layout. See README.md.
"""
