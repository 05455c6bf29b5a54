"""Shared handling of the transformer that maps images to codes (encoder, descriptor)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import TransformerMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from bsqkit._validation import check_finite, check_samples, concat


def _is_fitted(transformer: Any) -> bool:
    if hasattr(transformer, "__sklearn_is_fitted__"):
        return bool(transformer.__sklearn_is_fitted__())
    try:
        check_is_fitted(transformer)
    except NotFittedError:
        return False
    except TypeError:
        # not an sklearn estimator: trust it to be usable as it is
        return True
    return True


def _accepts_images(transformer: Any) -> bool:
    """Whether ``transformer`` takes arrays of more than 2 dimensions (sklearn input tags)."""
    try:
        return bool(get_tags(transformer).input_tags.three_d_array)
    except Exception:
        return False


def _as_input(transformer: Any, X: Any) -> Any:
    if len(X.shape) > 2 and not _accepts_images(transformer):
        X = np.asarray(X)
        return X.reshape(X.shape[0], -1)
    return X


class EncoderMixin(TransformerMixin):
    """Adds a fitted-once transformer ``<param>_`` to a strategy.

    The transformer named by ``_encoder_param`` is used as it is when already fitted; an
    unfitted one is cloned (the user's object is never mutated) and fitted once on all
    pool images, annotated and not, at :meth:`fit` or the first query, then reused.
    Transformers that do not declare sklearn's ``input_tags.three_d_array`` receive images
    flattened to ``(n_samples, n_features)``. ``None`` uses the flattened samples as codes.
    """

    _encoder_param = "encoder"
    _state_params: tuple[str, ...] = ("random_state", "encoder")

    def _fitted_encoder(self, X: Any, X_more: Any = None) -> Any:
        attr = self._encoder_param + "_"
        if hasattr(self, attr):
            return getattr(self, attr)
        transformer = getattr(self, self._encoder_param)
        if transformer is not None:
            if not hasattr(transformer, "transform"):
                raise TypeError(
                    f"{self._encoder_param} must be a transformer with a transform method, "
                    f"got {type(transformer).__name__}"
                )
            if not _is_fitted(transformer):
                if not hasattr(transformer, "fit"):
                    raise TypeError(
                        f"{self._encoder_param} ({type(transformer).__name__}) is neither "
                        "fitted nor fittable (it has no fit method)"
                    )
                if X is None:
                    raise ValueError(f"{self._encoder_param} is not fitted and there is no data")
                X_fit = concat(X_more, X)  # copied only when fitting
                transformer = self._seeded_clone(transformer)
                transformer.fit(_as_input(transformer, X_fit))
        setattr(self, attr, transformer)
        if X is not None:
            self.n_features_in_ = int(np.prod(X.shape[1:]))
        return transformer

    def _seeded_clone(self, transformer: Any) -> Any:
        """A clone of the user's transformer whose ``random_state`` parameters left at
        None (nested ones too, as in a pipeline) are derived from the strategy's, so
        that an int ``random_state`` makes the fit reproducible (seeds the user set are
        kept)."""
        transformer = clone(transformer)
        if self.random_state is None:
            return transformer
        unseeded = [
            key
            for key, value in transformer.get_params(deep=True).items()
            if (key == "random_state" or key.endswith("__random_state")) and value is None
        ]
        if not unseeded:
            return transformer
        if isinstance(self.random_state, np.random.RandomState):
            seeds = self.random_state.randint(2**31 - 1, size=len(unseeded))
        else:
            # a stream of its own, independent of the query stream seeded by the same int
            stream = np.random.SeedSequence(int(self.random_state)).spawn(1)[0]
            seeds = stream.generate_state(len(unseeded)) % (2**31 - 1)
        return transformer.set_params(**{k: int(v) for k, v in zip(unseeded, seeds, strict=True)})

    def fit(self, X: Any, y: Any = None) -> Any:
        """Fit the transformer on all pool images (annotated and not), once.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        X = check_samples(X, "X")
        attr = self._encoder_param + "_"
        if hasattr(self, attr):
            delattr(self, attr)
        self._fitted_encoder(X)
        return self

    def transform(self, X: Any) -> NDArray[np.floating]:
        """Codes of ``X`` under the fitted transformer.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        ndarray of shape (n_samples, n_latent)
            float32 where the encoder returns float32, float64 otherwise.
        """
        if not hasattr(self, self._encoder_param + "_"):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted: call fit(X) or query first"
            )
        return self._encode(check_samples(X, "X"))

    def _encode(self, X: Any) -> NDArray[np.floating]:
        n_features = int(np.prod(X.shape[1:]))
        if n_features != getattr(self, "n_features_in_", n_features):
            raise ValueError(
                f"X has {n_features} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input (sample shape {tuple(X.shape[1:])})"
            )
        transformer = getattr(self, self._encoder_param + "_")
        if transformer is None:
            codes = np.asarray(X).reshape(len(X), -1)
        else:
            codes = transformer.transform(_as_input(transformer, X))
            codes = np.asarray(codes.detach().cpu() if hasattr(codes, "detach") else codes)
        if codes.dtype not in (np.float32, np.float64):
            # float32 codes stay float32: the scoring reads them in float64 chunks, so a
            # large pool is never copied whole
            codes = codes.astype(np.float64)
        if codes.ndim != 2 or codes.shape[0] != len(X):
            raise ValueError(
                f"{self._encoder_param} must return codes of shape (n_samples, n_latent), "
                f"got {codes.shape} for {len(X)} samples"
            )
        try:
            check_finite(codes, "codes")  # in chunks: no mask the size of the pool
        except ValueError:
            raise ValueError(f"{self._encoder_param} produced NaN or inf codes") from None
        return codes

    def _dask_codes(self, X_pool: Any) -> Any:
        """Lazy codes of a Dask pool, block by block (persisted when an encoder makes
        them, so that passes after the first do not encode again)."""
        from bsqkit._dask import map_codes

        if not hasattr(self, self._encoder_param + "_"):
            transformer = getattr(self, self._encoder_param)
            if transformer is not None and not _is_fitted(transformer):
                raise ValueError(
                    f"{self._encoder_param} is not fitted, and a Dask pool is not gathered "
                    f"to fit it: fit the strategy on an in-memory sample first "
                    f"(strategy.fit(X_sample)) or pass a fitted {self._encoder_param}"
                )
            self._fitted_encoder(None)
            self.n_features_in_ = int(np.prod(X_pool.shape[1:]))
        probe = self._encode(np.asarray(X_pool[:1].compute()))
        codes = map_codes(X_pool, self._encode, probe)
        if getattr(self, self._encoder_param + "_") is not None:
            codes = codes.persist()
        return codes

    def _encode_pool(
        self, X_pool: Any, X_labeled: Any
    ) -> tuple[NDArray[np.floating], NDArray[np.floating] | None]:
        """Codes of the candidates and of the labeled set (fitting the encoder first)."""
        self._fitted_encoder(X_pool, X_labeled)
        return self._encode(X_pool), (None if X_labeled is None else self._encode(X_labeled))
