"""The pure scoring core, with no database: documents as plain records (what an export holds), agreement between
annotators and against a gold (metrics.py), and predictions scored against a gold (scores.py). `concord evaluate`,
the datasheet and a trained model's learnability all score with it."""
