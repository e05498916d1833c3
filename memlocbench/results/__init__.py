"""Versioned result files: a method run's ``Result`` (``run_result``) and an analysis' ``AnalysisResult``
(``analysis_result``), validated on read and write."""
