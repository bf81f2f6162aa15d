"""Pure-Python recommender core (NumPy/SciPy/implicit, no Django).

The Django side feeds interaction logs in and gets artifacts out; everything in this
package works on plain arrays so it can be trained in a Celery worker, tested without a
database, and benchmarked offline (``python -m recommender.ml.bench_real``).

Modules:
    dataset    -- interaction logs, confidence weighting, id maps, train/test splits
    models     -- ALS, BPR, item-KNN, popularity behind one ``Recommender`` interface
    evaluate   -- ranking metrics (precision/recall/nDCG/MAP/coverage) and ``evaluate``
    artifacts  -- checksummed, pickle-free ``.npz`` model artifacts
    tune       -- seeded random hyperparameter search on a validation split
"""
