# Reproduce Leung & Bovy (2019) on a GPU with NVIDIA's NGC TensorFlow container.
#
#   docker build -t astronn-paper .
#   docker run --gpus all -v "$PWD/data:/data" astronn-paper                 # default profile
#   docker run --gpus all -v "$PWD/data:/data" astronn-paper python -m astronn_paper run --profile paper
#
# 23.06-tf2-py3 ships TensorFlow 2.12.0 (the release astroNN 1.1.0 works with) on Python 3.10.
FROM nvcr.io/nvidia/tensorflow:23.06-tf2-py3

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    MPLBACKEND=Agg \
    TF_CPP_MIN_LOG_LEVEL=2 \
    SDSS_LOCAL_SAS_MIRROR=/data/sas_mirror \
    GAIA_TOOLS_DATA=/data/gaia_tools \
    LASMOT_DR5_DATA=/data/lamost_dr5 \
    ASTRONN_PAPER_DATA=/data/astronn_paper \
    ASTRONN_PAPER_ROOT=/opt/astronn_paper

WORKDIR /opt/astronn_paper
COPY . /opt/astronn_paper

# Same pins as requirements.lock, minus what the image provides ('pip freeze' writes some of
# these names with '_', hence [-_]): TensorFlow and the packages built with it are left as
# NVIDIA installed them, unless a locked package needs a newer release within TensorFlow's own
# bounds (scripts/check_docker_recipe.py, run by CI, reports any such change).
# requirements.lock is made on Python 3.11 and some of its releases no longer support the
# image's Python 3.10 (scikit-learn 1.9, pillow 13, ...): each pin is therefore used as a cap
# (== becomes <=), so pip installs the locked release where it supports 3.10, else the newest
# earlier one that does.
RUN grep -v -i -E '^(tensorflow|tensorboard|keras|numpy|protobuf|grpcio|h5py|absl[-_]py|wrapt|gast|ml[-_]dtypes|jax|jaxlib|opt[-_]einsum|flatbuffers|libclang|termcolor|astunparse|google[-_]pasta|typing[-_]extensions)[=<>]' \
        requirements.lock > /tmp/constraints.txt \
 && sed -i 's/==/<=/' /tmp/constraints.txt \
 && python -m pip install -c /tmp/constraints.txt -e ".[test]" \
 && python -c "import tensorflow as tf, astroNN; assert tf.__version__.startswith('2.12'), tf.__version__" \
 && mkdir -p /data/sas_mirror /data/gaia_tools /data/lamost_dr5 /data/astronn_paper

CMD ["python", "-m", "astronn_paper", "run"]
