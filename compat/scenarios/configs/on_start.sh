#!/bin/bash
echo "starting compat notebook"
