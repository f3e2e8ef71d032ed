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

# Same pins as requirements.lock, minus what the image provides: TensorFlow and the packages
# built with it are kept as NVIDIA installed them (never replaced).
RUN grep -v -i -E '^(tensorflow|tensorboard|keras|numpy|protobuf|grpcio|h5py|absl-py|wrapt|gast|ml-dtypes|jax|jaxlib|opt-einsum|flatbuffers|libclang|termcolor|astunparse|google-pasta|typing-extensions)[=<>]' \
        requirements.lock > /tmp/constraints.txt \
 && python -m pip install -c /tmp/constraints.txt -e ".[test]" \
 && python -c "import tensorflow as tf, astroNN; assert tf.__version__.startswith('2.12'), tf.__version__" \
 && mkdir -p /data/sas_mirror /data/gaia_tools /data/lamost_dr5 /data/astronn_paper

CMD ["python", "-m", "astronn_paper", "run"]
