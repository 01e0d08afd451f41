"""The frontier's proxy search (plans.frontier_stage1/2): short runs on a 5,000-image validation
split, ranked by validation accuracy, never by the test set. Resumable: recorded runs in
results/search are skipped; writes results/search/ranking.md.

    python tools/frontier_search.py
"""
from effmnist_utils import plans

if __name__ == "__main__":
    print(plans.run_frontier_search())
