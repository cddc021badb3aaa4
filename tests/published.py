"""Published EfficientNet figures, the expectations count tests hold scalespec to.

They are copied from the published reference file (shared/reference/published-efficientnet.json,
beside the repository where it is available) so the checks also run where that
file is absent; tests/test_zoo_counts.py keeps the copy in sync with the file whenever it is there.
"""

from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "published-efficientnet.json"

# Published B0..B7 figures, copied from the shared reference file
# (torchvision num_params and GFLOPS at its eval crop; keras.applications count_params()),
# kept here so the check runs where that file is absent.
PUBLISHED = {
    "b0": {"params": 5_288_548, "crop": 224, "macs_g": 0.386, "keras_count_params": 5_330_571},
    "b1": {"params": 7_794_184, "crop": 240, "macs_g": 0.687, "keras_count_params": 7_856_239},
    "b2": {"params": 9_109_994, "crop": 288, "macs_g": 1.088, "keras_count_params": 9_177_569},
    "b3": {"params": 12_233_232, "crop": 300, "macs_g": 1.827, "keras_count_params": 12_320_535},
    "b4": {"params": 19_341_616, "crop": 380, "macs_g": 4.394, "keras_count_params": 19_466_823},
    "b5": {"params": 30_389_784, "crop": 456, "macs_g": 10.266, "keras_count_params": 30_562_527},
    "b6": {"params": 43_040_704, "crop": 528, "macs_g": 19.068, "keras_count_params": 43_265_143},
    "b7": {"params": 66_347_960, "crop": 600, "macs_g": 37.746, "keras_count_params": 66_658_687},
}
# The TF reference coefficients (width, depth, paper resolution, dropout) of each variant.
PUBLISHED_COEFFICIENTS = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}
# Batch-norm (eps, momentum) of torchvision's efficientnet_b0..b7: its efficientnet.py builds
# B5-B7, whose weights were ported from TensorFlow, with norm_layer=partial(nn.BatchNorm2d,
# eps=0.001, momentum=0.01), and B0-B4 with BatchNorm2d's defaults.
TORCHVISION_BN = {f"b{i}": (1e-5, 0.1) for i in range(5)} | {f"b{i}": (1e-3, 0.01) for i in range(5, 8)}
