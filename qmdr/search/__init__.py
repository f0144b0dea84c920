"""Search: the searcher, fusion, rerank, expansion, snippets, keyword query building, stop words, boosts.

Kept empty of imports so that ``qmdr.store`` can use the keyword query builder without loading the searcher.
"""
